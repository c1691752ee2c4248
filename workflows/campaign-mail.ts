import { defineRule } from '../shared/core';
import { GroupEmailCancelled, GroupEmailScheduled } from './events';
import { sendGroupEmail } from './task-types';

/** J5: mail a campaign's group at `sendAt` (often days ahead), unless it is called off. */
export const campaignMail = defineRule({
  name: 'campaign-mail',
  key: 'detail.campaignId',
  on: GroupEmailScheduled,
  schedule: { task: sendGroupEmail, at: 'detail.sendAt' },
  cancelOn: [GroupEmailCancelled],
});
