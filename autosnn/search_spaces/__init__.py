"""Search spaces: the dimensions, the subnet configs, the genome."""

from autosnn.search_spaces.space import SearchSpace
from autosnn.search_spaces.subnet_config import MIXERS, SubnetConfig

__all__ = ["SearchSpace", "SubnetConfig", "MIXERS"]
