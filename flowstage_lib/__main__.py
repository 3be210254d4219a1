import sys

from flowstage_lib.cli import main

sys.exit(main())
