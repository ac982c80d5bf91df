"""Entry point of the bundled app (PyInstaller runs this file): the same ``main`` as ``python -m ui``."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from ui.__main__ import main

    sys.exit(main())
