#pragma once
// elbo::training in one include: the training loop, its data, checkpoints, reports and the VAE's task.
#include "checkpoint.h"
#include "data.h"
#include "loop.h"
#include "report.h"
#include "schedule.h"
#include "tasks.h"
#include "tensorboard.h"
#include "trainer.h"
