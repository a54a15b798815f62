"""The `sharegraph` command.

Dependencies' deprecation notices for their own dependencies (asyncssh's use of DSA names that
`cryptography` deprecates, five lines on every start) are no news to someone running a command:
they are silenced here, before anything imports them, unless Python was asked to show warnings
(`python -W default`, `PYTHONWARNINGS`) or `sharegraph --verbose` runs.
"""

import sys
import warnings

if not sys.warnoptions:
    from cryptography.utils import CryptographyDeprecationWarning

    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
