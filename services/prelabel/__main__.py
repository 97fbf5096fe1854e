from labelops_shared.runtime import main
from services.prelabel.bootstrap import build

main("prelabel", build)
