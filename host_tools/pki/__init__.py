"""The PKI wing: the CA, the broker's and the devices' certificates and keys (certs/)."""
from .folder import Pki  # noqa: F401
