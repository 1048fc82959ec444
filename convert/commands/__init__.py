"""One module per `ecg-convert` subcommand (see convert.cli.COMMANDS)."""
