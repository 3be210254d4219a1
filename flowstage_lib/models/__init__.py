"""Flow networks: the LightningDiT-style DiT, the residual-MLP ladder, a tiny MLP, their specs
(:mod:`.networks`), and the autoencoder latent spaces of Figs. 9 and 12 (:mod:`.latent`)."""

from flowstage_lib.models.networks import *  # noqa: F403
from flowstage_lib.models.networks import __all__  # noqa: F401
