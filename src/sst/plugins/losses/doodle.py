"""Style loss ``doodle``: semantic style transfer of Champandard 2016 ("neural doodle").

The semantic channels (here the K soft masks) are concatenated to the relu3_1
and relu4_1 activations, weighted by a semantic weight; every 3x3 patch is
matched to the style patch with the highest normalised cross-correlation of the
concatenated vectors, and the loss is the mean squared distance of the feature
part to the matched patch (CNNMRF's loss, :class:`MRFLoss`). The content layer
is relu4_2, as in neural-doodle.

Weights, and how they map onto sst's: the paper's comparison (Zhao et al. 2017,
section 6) runs neural-doodle with content weight 10, style weight 25 and
semantic weight 100.

- neural-doodle's content and style terms are means over elements (``T.mean``),
  as sst's are, so only their ratio carries over: ``content_weight 0.4``,
  ``style_weight 1`` (10/25 : 25/25); the TV weight stays sst's 1.
- neural-doodle normalises the feature part and the semantic-map part of its
  patches each on its own and scores a match as ``ncc(features) + w *
  ncc(map)``. That is mrf-semantic's score (:func:`sst.core.patches.patch_score`)
  with the mask weight ``gamma = w``: 100 for w = 100, against mrf-semantic's
  default. ``--gamma`` is not read: ``--semantic-weight`` is
  (``LossOptions.semantic_weight``, default 100).

The differences from ``mrf-semantic`` are therefore the semantic weighting,
the content layer and the weights; both read the same soft masks here, where
neural-doodle reads the colour map itself (distinct colours are orthogonal
channels in sst).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import LossOptions, PluginContext
from sst.plugins.losses.mrf import SemanticMRFLoss


class DoodleLoss(SemanticMRFLoss):
    """Neural doodle (Champandard 2016): semantic weight 100, content relu4_2, content:style 10:25."""

    content_layer = "relu4_2"
    semantic_weight: ClassVar[float] = 100.0
    recommended_weights: ClassVar[dict[str, float]] = {"content_weight": 0.4, "style_weight": 1.0, "tv_weight": 1.0}

    def __init__(self, ctx: PluginContext, options: LossOptions) -> None:
        w = self.semantic_weight if options.semantic_weight is None else options.semantic_weight
        super().__init__(ctx, replace(options, gamma=w))


@hookimpl
def register_losses(register) -> None:
    register("doodle", DoodleLoss)
