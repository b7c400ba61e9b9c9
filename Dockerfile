# The operator's image: a virtual environment in /opt/ecr-operator on a Python 3.11 base, run as 65532.
#
# BASE_IMAGE is pinned by digest, so a rebuild gets the same base until someone moves the pin on purpose.
# Refresh it with `docker buildx imagetools inspect python:3.11-slim-bookworm` (or `skopeo inspect
# docker://python:3.11-slim-bookworm`, `crane digest python:3.11-slim-bookworm`): the digest of the index
# (all platforms), not of one platform's manifest. The digest below has not been pulled or verified on our
# build machines, which reach no registry: there hack/image/build.sh builds an equivalent base from Debian
# bookworm packages (python3 3.11) and passes it as BASE_IMAGE.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
FROM ${BASE_IMAGE}

ENV PATH=/opt/ecr-operator/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python3 -m venv /opt/ecr-operator \
    && useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ecr-operator

# Dependencies in their own layer (rebuilt only when pyproject.toml or constraints.txt change), at the
# versions constraints.txt pins.
COPY pyproject.toml constraints.txt /src/
# Only for the build, where pip may need it (the CA of a TLS-intercepting proxy); not
# kept in the image's environment.
ARG PIP_CERT
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install --constraint /src/constraints.txt --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The operator itself: built and installed straight from the source, so no wheel file stays behind.
COPY README.md /src/
COPY operator /src/operator
RUN pip install --no-deps --constraint /src/constraints.txt /src \
    && rm -rf /src \
    && pip uninstall --yes pip

USER 65532:65532
# Settings come from ECR_OPERATOR_* variables, as the chart and kustomize pass them: no flag here, so a variable set
# at `docker run -e` or by a Deployment is never overridden (all namespaces unless ECR_OPERATOR_NAMESPACE names some).
ENV ECR_OPERATOR_LOG_FORMAT=json
ENTRYPOINT ["ecr-operator"]
CMD ["run"]
