"""`python -m ecr_operator.cli`: the command line."""

import sys

from ecr_operator.cli.main import main

sys.exit(main())
