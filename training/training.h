#pragma once
// elbo::training in one include: the training loop, checkpoints, reports and the zoo's tasks.
#include "checkpoint.h"
#include "loop.h"
#include "report.h"
#include "schedule.h"
#include "tasks.h"
#include "tensorboard.h"
#include "trainer.h"
