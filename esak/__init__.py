"""esak: paper case files of a job center into digital files (E-Sozialakte)."""

__version__ = "0.1.0"
