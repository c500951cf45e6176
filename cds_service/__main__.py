"""`python -m cds_service ...` is the same command line as the `cds-service` console script."""

from cds_service.cli import main

main()
