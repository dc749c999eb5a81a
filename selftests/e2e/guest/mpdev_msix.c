// SPDX-License-Identifier: GPL-2.0
/*
 * mpdev_msix - a PCI driver that counts a function's MSI-X interrupts,
 * one count per vector, for the nested guest of the end-to-end tests
 * (selftests/e2e, mpdev-guest's msix step).
 *
 * It has no ID table, so it binds to nothing by itself: mpdev-guest binds
 * it to mpdev-testdev through driver_override.  It enables every MSI-X
 * vector the function has and requests one interrupt per vector, named
 * "mpdev_msix.N", whose handler only says it handled it: the kernel's own
 * per-interrupt counts in /proc/interrupts are the result.  Unbinding
 * frees the interrupts and disables MSI-X (all device-managed).
 *
 * Why a driver of our own: userspace gets MSI-X vectors from vfio-pci,
 * which needs an IOMMU or CONFIG_VFIO_NOIOMMU, and Debian 6.1's kernel
 * has neither here; uio_pci_generic only does INTx.
 *
 * Built by selftests/e2e/Makefile against the guest kernel's headers.
 */
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/pci.h>

#define DRV_NAME "mpdev_msix"

static irqreturn_t mpdev_msix_irq(int irq, void *data)
{
	return IRQ_HANDLED;
}

static int mpdev_msix_probe(struct pci_dev *pdev,
			    const struct pci_device_id *id)
{
	int nvec, ret, i;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	/* An MSI-X message is a memory write: bus mastering. */
	pci_set_master(pdev);
	nvec = pci_msix_vec_count(pdev);
	if (nvec < 0)
		return dev_err_probe(&pdev->dev, nvec, "no MSI-X capability\n");
	ret = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (ret < 0)
		return dev_err_probe(&pdev->dev, ret,
				     "cannot enable %d MSI-X vectors\n", nvec);
	for (i = 0; i < nvec; i++) {
		const char *name = devm_kasprintf(&pdev->dev, GFP_KERNEL,
						  DRV_NAME ".%d", i);

		if (!name)
			return -ENOMEM;
		ret = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, i),
				       mpdev_msix_irq, 0, name, pdev);
		if (ret)
			return dev_err_probe(&pdev->dev, ret,
					     "cannot request vector %d\n", i);
	}
	dev_info(&pdev->dev, "%d MSI-X vectors\n", nvec);
	return 0;
}

static struct pci_driver mpdev_msix_driver = {
	.name = DRV_NAME,
	.probe = mpdev_msix_probe,
};
module_pci_driver(mpdev_msix_driver);

MODULE_DESCRIPTION("Count MSI-X interrupts per vector (mpdev e2e tests)");
MODULE_LICENSE("GPL");
