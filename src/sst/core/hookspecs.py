"""Hook specifications: one hook per plugin kind.

A plugin is a module or object with functions marked ``@sst.hookimpl``. Each
hook receives a ``register`` callback and calls it once per implementation it
provides::

    @hookimpl
    def register_softeners(register):
        register("box", BoxSoftener)

The factory (usually a class) is called with the :class:`~sst.core.interfaces.PluginContext`
(a loss also with its :class:`~sst.core.interfaces.LossOptions`); what it returns must have
the members of its kind's protocol in :mod:`sst.core.interfaces`, which the registry checks.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT = "sst"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    def __call__(self, name: str, factory: Any, summary: str = "") -> None: ...


@hookspec
def register_segmenters(register: Register) -> None:
    """Register segmenters: content + style images -> aligned soft masks (:class:`Segmenter`)."""


@hookspec
def register_face_detectors(register: Register) -> None:
    """Register facial-part detectors: image -> faces with landmarks and parts (:class:`FaceDetector`)."""


@hookspec
def register_skin_detectors(register: Register) -> None:
    """Register skin detectors: image -> soft skin map (:class:`SkinDetector`)."""


@hookspec
def register_softeners(register: Register) -> None:
    """Register mask softeners: hard or soft masks -> soft masks (:class:`Softener`)."""


@hookspec
def register_feature_nets(register: Register) -> None:
    """Register feature networks with named layer taps (:class:`FeatureNet`)."""


@hookspec
def register_losses(register: Register) -> None:
    """Register style losses (:class:`StyleLoss`)."""


@hookspec
def register_models(register: Any) -> None:
    """Give the model manager the models this plugin uses: ``register(ModelSpec(...))`` once per model
    (its source, the source file's sha256, how it becomes the cached file; :mod:`sst.core.models`)."""


@hookspec
def register_commands(cli: Any, groups: Any) -> None:
    """Add commands to the ``sst`` typer app (``cli.command()(fn)``), or to one of its groups
    (``groups["models"].command("export")(fn)``). An implementation may take either argument alone."""
