import sys

from jacobian_cnn.cli.main import main

sys.exit(main())
