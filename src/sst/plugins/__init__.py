"""Built-in plugins. They register exactly as a third-party package would."""

#: Modules registered before any entry-point plugin, in this order.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "sst.plugins.features.vgg",
    "sst.plugins.segmenters.manual",
    "sst.plugins.segmenters.portrait",
    "sst.plugins.faces.dlib68",
    "sst.plugins.faces.facemesh",
    "sst.plugins.skin.ycbcr",
    "sst.plugins.softeners.basic",
    "sst.plugins.softeners.guided",
    "sst.plugins.losses.mrf",
    "sst.plugins.losses.gram",
    "sst.plugins.losses.doodle",
    "sst.plugins.softeners.crf",
    "sst.plugins.segmenters.crfrnn",
    "sst.plugins.segmenters.cosegment",
)
