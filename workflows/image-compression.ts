import { defineRule } from '../shared/core';
import { ImageDeleted, ImageUploaded } from './events';
import { compressImage } from './task-types';

/** J3: compress every uploaded image at once, two at a time, unless it is deleted first. */
export const imageCompression = defineRule({
  name: 'image-compression',
  key: 'detail.imageId',
  on: ImageUploaded,
  schedule: { task: compressImage },
  cancelOn: [ImageDeleted],
});
