"""ginr-data: datasets for generalizable INRs (images and light fields), built on Hugging Face ``datasets``.

The image loaders and the embedded default photographs arrive with the image-reconstruction work;
the light-field loaders with the novel-view-synthesis work. Coordinates and rays come from
``ginr_core`` so that data and models share one convention.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
