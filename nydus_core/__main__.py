import sys

from nydus_core._cli import main

sys.exit(main())
