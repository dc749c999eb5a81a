// SPDX-License-Identifier: GPL-2.0-or-later
/* Registry of device models. */
#include "devmodel.h"

#include <string.h>

#include "testdev.h"

static const struct devmodel_ops *const models[] = {
	&testdev_ops,
};

const struct devmodel_ops *devmodel_find(const char *name)
{
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		if (!strcmp(models[i]->name, name))
			return models[i];
	}
	return NULL;
}

void devmodel_list(FILE *f)
{
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		fprintf(f, "  %-16s %s\n", models[i]->name, models[i]->summary);
}
