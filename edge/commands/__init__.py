"""One module per `ecg-edge` subcommand (see edge.cli.COMMANDS)."""
