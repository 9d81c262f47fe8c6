# What the node reads of a certificate in DER, without a parser: its elements by tag and
# length. Imported when a key pin is checked on mbedtls and to explain a refusal.


def tlv(der, i):
    """The DER element at i: (offset of its content, offset past its end)."""
    n = der[i + 1]
    if n < 0x80:
        return i + 2, i + 2 + n
    k = n & 0x7F
    if k > 3:
        raise IndexError("not DER")
    v = 0
    for j in range(i + 2, i + 2 + k):
        v = (v << 8) | der[j]
    return i + 2 + k, i + 2 + k + v


def public_key(der):
    """The SubjectPublicKeyInfo element of a certificate in DER (its bytes), or None."""
    try:
        i = tlv(der, tlv(der, 0)[0])[0]     # into Certificate, into TBSCertificate
        if der[i] == 0xA0:
            i = tlv(der, i)[1]              # version
        for _ in range(5):                  # serial, signature, issuer, validity, subject
            i = tlv(der, i)[1]
        end = tlv(der, i)[1]
        return der[i:end] if end <= len(der) else None
    except IndexError:
        return None


def names_itself(der):
    """True when the certificate's issuer and subject are the same name (from its first
    bytes: Certificate, TBSCertificate, [0] version, serial, signature, issuer, validity,
    subject); None when they are not within `der`."""
    try:
        i = tlv(der, tlv(der, 0)[0])[0]   # into Certificate, into TBSCertificate
        if der[i] == 0xA0:
            i = tlv(der, i)[1]             # version
        i = tlv(der, tlv(der, i)[1])[1]   # serial, signature algorithm
        issuer = tlv(der, i)[1]
        subject = tlv(der, tlv(der, issuer)[1])
        if subject[1] > len(der):
            return None
        return der[i:issuer] == der[tlv(der, issuer)[1]:subject[1]]
    except IndexError:
        return None
