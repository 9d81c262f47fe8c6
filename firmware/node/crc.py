# CRC-32 (IEEE, as zlib): binascii.crc32 where the port has it, else a 16-entry table
# (binascii.crc32 is optional in MicroPython builds; small ESP8266 builds may leave it out).
try:
    from binascii import crc32
except ImportError:
    crc32 = None

_T = (0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
      0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
      0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C)


def crc32_nibble(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        crc = (crc >> 4) ^ _T[crc & 15]
        crc = (crc >> 4) ^ _T[crc & 15]
    return crc ^ 0xFFFFFFFF


if crc32 is None:
    crc32 = crc32_nibble
