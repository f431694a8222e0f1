import sys

from bellwire.cli import main

sys.exit(main())
