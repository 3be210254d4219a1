"""What runs the book and caches its work: the content-addressed cache, profiles and notebook
plumbing (:mod:`.book`), the ``flowstage`` command (:mod:`.cli`), the profile check, progress
that reaches the terminal, and the plotting style."""
