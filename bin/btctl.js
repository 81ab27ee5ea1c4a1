#!/usr/bin/env node
import '../dist/control/btctl.js';
