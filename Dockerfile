FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator ./operator
# Every dependency at the version pinned in constraints.txt (hack/lock.sh), the same as in the tests.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin operator
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels ecr-operator && rm -rf /wheels
USER 65532
ENTRYPOINT ["ecr-operator"]
CMD ["run", "--all-namespaces", "--log-format", "json"]
