"""The ``difflens`` command line: LightningCLI loops and the project subcommands."""
