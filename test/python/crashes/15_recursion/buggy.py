def depth_sum(tree, depth=1):
    total = tree["value"] * depth
    for child in tree["children"]:
        total += depth_sum(child, depth + 1)
    return total


print("prologue")
tree = {"value": 1, "children": [
    {"value": 2, "children": []},
    {"value": 3, "children": [{"value": 4}, {"value": 5, "children": []}]},
]}
print("sum", depth_sum(tree))
