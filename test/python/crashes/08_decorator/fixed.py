import functools

calls = []


def traced(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        calls.append(fn.__name__)
        return fn(*args, **kwargs)
    return wrapper


@traced
def parse_price(text):
    amount, currency = text.split()
    return float(amount) * {"EUR": 1.1, "USD": 1.0, "GBP": 1.25}[currency]


print("prologue")
prices = ["10 USD", "5 EUR", "7 GBP", "1 USD"]
for p in prices:
    print(p, round(parse_price(p), 2))
print(len(calls), parse_price.__name__)
