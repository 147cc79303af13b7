"""URL converters."""


class IdConverter:
    """A database id in a URL path: 1 to 2**63 - 1.

    Django's `int` takes any number of digits, and a number too big for a 64-bit column
    reached the database as an overflow (a 500); here it simply matches no page (404).
    """

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number < 2**63:
            raise ValueError("not a database id")  # Django answers 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)
