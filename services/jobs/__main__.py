from labelops_shared.runtime import main
from services.jobs.bootstrap import build

main("jobs", build)
