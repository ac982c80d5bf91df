"""``python -m ui [--model PATH|embedded] [--project FILE] [--no-autoload]``: the desktop app."""

import sys


def main() -> int:
    from ui.app import run

    return run(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
