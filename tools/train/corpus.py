"""The training text: the King James Bible from Debian's bible-kjv, one verse per line.

`bible "Gen1:1-Rev22:21"` prints each chapter as a title line ("Genesis 1") between blank lines,
then verses as "  N text", wrapped at about 78 columns. This module joins the wrapped lines, so a
chapter becomes "Genesis 1\n1 In the beginning ...\n2 And the earth ...\n", and the corpus is the
chapters one after another. Whole chapters are held out for validation.
"""

import re
import subprocess

BIBLE_RANGE = "Gen1:1-Rev22:21"
VERSE_START = re.compile(r"^\s+(\d+) (.*)$")


def read_bible_output(command="bible"):
    """Runs the `bible` program of Debian's bible-kjv and returns its text."""
    try:
        result = subprocess.run([command, BIBLE_RANGE], check=True, capture_output=True, text=True)
    except FileNotFoundError as error:
        raise SystemExit("the `bible` program is missing; install it with: apt-get install bible-kjv bible-kjv-text") from error
    return result.stdout


def split_chapters(text):
    """Returns the chapters as strings: the title line, then one line per verse."""
    lines = text.split("\n")
    chapters, current = [], None
    for index, line in enumerate(lines):
        previous_blank = index == 0 or lines[index - 1] == ""
        next_blank = index + 1 >= len(lines) or lines[index + 1] == ""
        verse = VERSE_START.match(line)

        if line and not line[0].isspace() and previous_blank and next_blank:
            current = [line]
            chapters.append(current)
        elif verse:
            current.append(f"{verse.group(1)} {verse.group(2).strip()}")
        elif line.strip():
            # A wrapped continuation of the verse above.
            current[-1] += " " + line.strip()
    return ["\n".join(chapter) + "\n" for chapter in chapters]


def split_train_validation(chapters, every=40, offset=17):
    """Holds out every `every`-th chapter (starting at `offset`): about 2.5% of the text."""
    train = [chapter for index, chapter in enumerate(chapters) if index % every != offset]
    validation = [chapter for index, chapter in enumerate(chapters) if index % every == offset]
    return "".join(train), "".join(validation)


def build_vocabulary(text):
    """Returns the sorted characters of the text: token id i is the i-th character."""
    return sorted(set(text))
