"""Setlist: nightly personalised playlists with exposure, fairness and royalty audits."""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent

# The repository's top-level folders become sub-packages of one namespace, so
# nothing generic (``jobs``, ``features``) lands in site-packages.
PACKAGE_DIR = {
    "setlist": "setlist",
    "setlist.data": "setlist/data",
    "setlist.jobs": "jobs",
    "setlist.features": "features",
    "setlist.governance": "governance",
    "setlist.sql": "sql",
}

INSTALL_REQUIRES = [
    "pyspark==4.2.0",
    "delta-spark==4.4.1",
    "apache-airflow==3.3.2",
    "apache-airflow-task-sdk==1.3.2",
    "apache-airflow-providers-standard==1.21.0",
    "great-expectations==1.24.1",
    "feast==0.67.0",
    # The CPU build of XGBoost: same `xgboost` import, 19 MB instead of ~500 MB.
    "xgboost-cpu==3.2.0",
    "fairlearn==0.15.0",
    "deltalake==1.6.6",
    "pandas==2.3.3",
    "numpy>=2.0,<3",
    "pyarrow==26.0.1",
    "scikit-learn>=1.5,<2",
    "threadpoolctl>=3.1,<4",
    "matplotlib>=3.9,<4",
    "PyYAML>=6,<7",
    "redis>=5,<9",
    # Feast's local offline store: DuckDB reads the Delta tables through its
    # `delta` extension, installed from PyPI (no download at run time).
    "ibis-framework[duckdb]==12.0.0",
    "duckdb==1.5.5",
    "duckdb-extension-delta==1.5.5",
]

setup(
    name="setlist",
    version="0.1.0",
    description=__doc__,
    long_description=(ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else __doc__,
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=list(PACKAGE_DIR),
    package_dir=PACKAGE_DIR,
    package_data={
        "setlist": ["profiles/*.yaml"],
        "setlist.sql": ["*/*.sql", "*/*.md"],
        "setlist.features": ["*.yaml", ".feastignore"],
        "setlist.governance": ["*.yaml", "templates/*"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7", "pyflakes>=3.2,<4"],
    },
    entry_points={"console_scripts": ["setlist=setlist.cli:main"]},
)
