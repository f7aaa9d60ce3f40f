"""``gomicroim bench``: load scenarios driven from separate client processes."""
