"""The Cassandra backend for Nydus, on cassandra-driver.

::

    from nydus_core import create_cluster

    cassandra = create_cluster({
        'backend': 'pycassa',
        'hosts': ['127.0.0.1'],
        'keyspace': 'shop',
    })
    rows = cassandra.execute("SELECT total FROM carts WHERE id = %s", (7,))
"""

from nydus_pycassa._backend import CassandraBackend, PreparedCache
from nydus_pycassa._cluster import CassandraCluster, CassandraCommandProxy
from nydus_pycassa._pipeline import CassandraPipeline

__all__ = [
    "CassandraBackend",
    "CassandraCluster",
    "CassandraCommandProxy",
    "CassandraPipeline",
    "PreparedCache",
]
