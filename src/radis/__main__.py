import sys

from radis.cli import main

sys.exit(main())
