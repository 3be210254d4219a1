import sys

from flowstage_lib.tooling.cli import main

sys.exit(main())
