from labelops_shared.runtime import main
from services.export.bootstrap import build

main("export", build)
