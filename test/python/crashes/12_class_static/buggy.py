class Temperature:
    scale = "C"

    def __init__(self, value):
        self.value = value

    @classmethod
    def parse(cls, text):
        number, unit = text[:-1], text[-1]
        return cls(cls.to_celsius(float(number), unit))

    @staticmethod
    def to_celsius(v, unit):
        return {"C": v, "F": (v - 32) * 5 / 9}[unit]


print("prologue")
for t in ["20C", "68F", "300K", "-5C"]:
    print(t, round(Temperature.parse(t).value, 2))
