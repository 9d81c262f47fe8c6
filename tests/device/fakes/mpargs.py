# MicroPython's own checks of what a port's C function is given (py/obj.c, py/argcheck.c), for
# the fakes of the ESP ports: what the board refuses, the fakes refuse with the same exception.


def integer(x):
    """mp_obj_get_int on a 32-bit port: an int or a bool that fits a machine word."""
    if not isinstance(x, (int, bool)):
        raise TypeError("can't convert %s to int" % type(x).__name__)
    if not -0x80000000 <= x <= 0x7FFFFFFF:
        raise OverflowError("overflow converting long int to machine word")
    return int(x)


def at_most(args, n):
    """mp_arg_check_num: up to n positional arguments (keywords are refused by the signature)."""
    if len(args) > n:
        raise TypeError("function expected at most %d arguments, got %d" % (n, len(args)))


def fixed(seq, n):
    """mp_obj_get_array_fixed_n: a tuple or a list of exactly n items."""
    if not isinstance(seq, (tuple, list)):
        raise TypeError("object '%s' isn't a tuple or list" % type(seq).__name__)
    if len(seq) != n:
        raise ValueError("requested length %d but object has length %d" % (n, len(seq)))
    return seq


def buffer(x):
    """mp_get_buffer_raise: the bytes of anything with the buffer protocol."""
    return bytes(memoryview(x))
