"""Registry specs, one module per op family; importing this package registers them all.

NOTE: in this order: ops_library registers some nn.functional names only where no module
before it did.
"""

from gradflow.testing.specs import core  # noqa: F401, I001
from gradflow.testing.specs import nn  # noqa: F401
from gradflow.testing.specs import conv  # noqa: F401
from gradflow.testing.specs import nn_layers  # noqa: F401
from gradflow.testing.specs import ops_library  # noqa: F401
from gradflow.testing.specs import recurrent  # noqa: F401
