"""uvscope: control and analysis software for label-free deep-UV hematology microscopes."""

__version__ = "0.1.0"
