from labelops_shared.runtime import main
from services.assignment.bootstrap import build

main("assignment", build)
