-- AlterTable
ALTER TABLE "Device" ADD COLUMN "mqttSecretPbkdf2" TEXT;
