import sys

from flowstage_lib.analyze.cli import main

sys.exit(main())
