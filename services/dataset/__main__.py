from labelops_shared.runtime import main
from services.dataset.bootstrap import build

main("dataset", build)
