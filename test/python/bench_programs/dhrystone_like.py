"""A Dhrystone-style integer benchmark (written for Axolotl's bench; the same kind of work as the
classic pystone: small procedures on records, module globals assigned through `global`, parameters
rebound in the callee, string comparisons and array updates).

    python3 dhrystone_like.py [loops]
"""
import sys

RED, GREEN, BLUE, CYAN, MAGENTA = range(5)


class Cell:
    __slots__ = ("link", "kind", "colour", "number", "label")

    def __init__(self, link=None, kind=0, colour=RED, number=0, label=""):
        self.link = link
        self.kind = kind
        self.colour = colour
        self.number = number
        self.label = label

    def clone(self):
        return Cell(self.link, self.kind, self.colour, self.number, self.label)


counter = 0
flag = False
letter_a = "\0"
letter_b = "\0"
row = [0] * 51
grid = [[0] * 51 for _ in range(51)]
head = None
spare = None


def step_one(cell):
    nxt = cell.link
    nxt.number = cell.number
    nxt.link = cell.link
    nxt.link = step_three(nxt.link)
    if nxt.kind == RED:
        nxt.number = 6
        nxt.colour = step_six(cell.colour)
        nxt.link = head.link
        nxt.number = step_seven(nxt.number, 10)
    else:
        cell.link = nxt.clone()
    return cell


def step_two(value):
    local = value + 10
    while True:
        if letter_a == "A":
            local = local - 1
            value = local - counter
            colour = RED
        if colour == RED:
            break
    return value


def step_three(cell):
    global counter
    if head is not None:
        cell = head.link
    else:
        counter = 100
    head.number = step_seven(10, counter)
    return cell


def step_four():
    global letter_b
    ok = letter_a == "A"
    ok = ok or flag
    letter_b = "B"
    return ok


def step_five():
    global letter_a, flag
    letter_a = "A"
    flag = False


def step_six(colour):
    result = colour
    if not is_known(colour):
        result = MAGENTA
    if colour == RED:
        result = RED
    elif colour == GREEN:
        result = RED if counter > 100 else CYAN
    elif colour == BLUE:
        result = GREEN
    elif colour == MAGENTA:
        result = CYAN
    return result


def step_seven(a, b):
    a = a + 2
    return b + a


def step_eight(cells, table, a, b):
    global counter
    k = a + 5
    cells[k] = b
    cells[k + 1] = cells[k]
    cells[k + 30] = k
    for j in range(k, k + 2):
        table[k][j] = k
    table[k][k - 1] = table[k][k - 1] + 1
    table[k + 20][k] = cells[k]
    counter = 5


def compare_letters(x, y):
    if x != y:
        return RED
    return GREEN


def compare_labels(s, t):
    n = 1
    while n <= 1:
        if compare_letters(s[n], t[n + 1]) == RED:
            letter = "A"
            n = n + 1
    if "W" <= letter <= "Z":
        n = 7
    if letter == "X":
        return True
    if s > t:
        n = n + 7
        return True
    return False


def is_known(colour):
    return colour == CYAN


def run(loops):
    global head, spare
    spare = Cell()
    head = Cell(spare, RED, CYAN, 40, "LABEL, SOME STRING")
    s1 = "LABEL, FIRST STRING"
    grid[8][7] = 10
    for _ in range(loops):
        step_five()
        step_four()
        a = 2
        b = 3
        s2 = "LABEL, 2'ND STRING"
        colour = BLUE
        ok = not compare_labels(s1, s2)
        while a < b:
            c = 5 * a - b
            c = step_seven(a, b)
            a = a + 1
        step_eight(row, grid, a, c)
        step_one(head)
        ch = "A"
        while ch <= letter_b:
            if colour == compare_letters(ch, "C"):
                colour = step_six(RED)
            ch = chr(ord(ch) + 1)
        c = b * a
        b = c // a
        b = 7 * (c - b) - a
        a = step_two(a)
    return a, b, c, ok, counter


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 400000))
